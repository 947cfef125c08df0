CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, archived BOOLEAN NOT NULL DEFAULT 0);
INSERT INTO projects (id, name) VALUES (1, 'demo');
