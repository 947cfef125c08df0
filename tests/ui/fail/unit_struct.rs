use apikey_core::ApiKeyModel;

#[derive(ApiKeyModel)]
#[apikey(table = org_keys)]
pub struct OrgKey;

fn main() {}
