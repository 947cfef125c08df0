-- The application's own tables (written by hand): organizations, and a
-- little data of theirs that the API serves to their keys.
CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name VARCHAR(100) NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    active BOOLEAN NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name VARCHAR(100) NOT NULL
);

CREATE INDEX projects_organization_id_idx ON projects (organization_id);
