-- A team directory's database as the first release of versioned layouts wrote
-- it (layout version 1; tests/storage.rs opens it with this release and checks
-- nothing is lost).
CREATE TABLE IF NOT EXISTS keyward_layout (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);
INSERT INTO keyward_layout (id, version) VALUES (0, 1);
CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER, expires_at INTEGER, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS keys_by_age ON keys (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notices (key_id TEXT NOT NULL, days INTEGER NOT NULL, PRIMARY KEY (key_id, days));
INSERT INTO keys (id, hash, created_at, revoked_at, expires_at, record) VALUES ('key_a1', 'abababababababababababababababababababababababababababababababab', 1799999990, NULL, 1800086400, '{"admission":"leased","created_at":1799999990,"created_by":"admin","credits":{"remaining":40,"since":1799999900},"enabled":true,"expires_at":1800086400,"hint":"kw_…abcd","id":"key_a1","ip_allow":["10.0.0.0/8"],"lineage":"key_a0","meta":{"tier":"gold"},"name":"ci","placed":true,"plan":"pro","rate_limits":[{"limit":5,"name":"burst","window":"1m"}],"region":"weur","replaces":"key_a0","revoked_at":null,"scopes":["documents.read"],"subject":"user_9","team":"acme","rev":3}');
INSERT INTO keys (id, hash, created_at, revoked_at, expires_at, record) VALUES ('key_a0', 'cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd', 1799000000, 1800003600, 1800086400, '{"admission":"leased","created_at":1799000000,"created_by":"admin","credits":{"remaining":40,"since":1799999900},"enabled":true,"expires_at":1800086400,"hint":"kw_…abcd","id":"key_a0","ip_allow":["10.0.0.0/8"],"lineage":"key_a0","meta":{"tier":"gold"},"name":"ci","placed":true,"plan":"pro","rate_limits":[{"limit":5,"name":"burst","window":"1m"}],"region":"weur","revoked_at":1800003600,"scopes":["documents.read"],"subject":"user_9","team":"acme","replaced_by":"key_a1"}');
INSERT INTO audit (entry) VALUES ('{"action":"key.update","actor":"key_m1","at_ms":1800000000000,"details":{"fields":["name"]},"key_id":"key_a1","request_id":"req_1","seq":0}');
INSERT INTO audit (entry) VALUES ('{"action":"key.rotate","actor":"key_m1","at_ms":1800000000000,"details":{"fields":["name"]},"key_id":"key_a0","request_id":"req_1","seq":0}');
INSERT INTO notices (key_id, days) VALUES ('key_a1', 7);
INSERT INTO notices (key_id, days) VALUES ('key_a1', 1);
