-- The application's own tables (written by hand): organizations, and a
-- little data of theirs that the API serves to their keys.
CREATE TABLE organizations (
    id BIGSERIAL PRIMARY KEY,
    name VARCHAR(100) NOT NULL UNIQUE CHECK (length(btrim(name)) > 0),
    active BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL
);

CREATE INDEX projects_organization_id_idx ON projects (organization_id);
