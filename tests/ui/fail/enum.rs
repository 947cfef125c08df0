use apikey_core::ApiKeyModel;

#[derive(ApiKeyModel)]
#[apikey(table = org_keys)]
pub enum OrgKey {
    Live,
    Revoked,
}

fn main() {}
