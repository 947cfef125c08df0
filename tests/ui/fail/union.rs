use apikey_core::ApiKeyModel;

#[derive(ApiKeyModel)]
#[apikey(table = org_keys)]
pub union OrgKey {
    id: i64,
    revoked: bool,
}

fn main() {}
