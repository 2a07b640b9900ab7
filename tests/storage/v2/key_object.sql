-- A key chain's object's database as the first release of versioned layouts
-- wrote it (layout version 2; tests/storage.rs opens it with this release and
-- checks nothing is lost).
CREATE TABLE IF NOT EXISTS keyward_layout (id INTEGER PRIMARY KEY CHECK (id = 0), version INTEGER NOT NULL);
INSERT INTO keyward_layout (id, version) VALUES (0, 2);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, window_start_ms INTEGER NOT NULL, count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, state TEXT NOT NULL, last_used_at INTEGER, requests INTEGER NOT NULL, denied INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, at_ms INTEGER NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER, code TEXT);
CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, lease TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credits (id INTEGER PRIMARY KEY CHECK (id = 0), credits TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (key_id TEXT PRIMARY KEY, series TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credits_low (id INTEGER PRIMARY KEY CHECK (id = 0), watch TEXT NOT NULL);
INSERT INTO counters (name, window_start_ms, count) VALUES ('burst/60', 1800000000000, 3);
INSERT INTO keys (id, state, last_used_at, requests, denied) VALUES ('key_a1', '{"disabled":true,"revoked_at":1800000000}', 1800000000, 3, 1);
INSERT INTO keys (id, state, last_used_at, requests, denied) VALUES ('key_a0', '{"revoked_at":null,"disabled":false}', NULL, 0, 0);
INSERT INTO outcomes (key_id, at_ms, method, path, status, code) VALUES ('key_a1', 1800000000000, 'GET', '/documents/1', NULL, NULL);
INSERT INTO outcomes (key_id, at_ms, method, path, status, code) VALUES ('key_a1', 1800000000500, 'GET', '/documents/1', 429, 'RATE_LIMITED');
INSERT INTO leases (id, lease) VALUES (1, '{"ask":1,"credits":2,"credits_since":1799999900,"deadline_ms":1800000001000,"granted":1,"holder":"isolate_1:key_a1","id":1,"windows":[["burst/60",1800000000000]]}');
INSERT INTO credits (id, credits) VALUES (0, '{"remaining":40,"since":1799999900}');
INSERT INTO series (key_id, series) VALUES ('key_a1', '1800000000,3,0,0|1799971200,3,0,0');
INSERT INTO credits_low (id, watch) VALUES (0, '{"claimed":true,"high":40,"since":5}');
CREATE TABLE IF NOT EXISTS lapsed (seq INTEGER PRIMARY KEY, lease TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notices (seq INTEGER PRIMARY KEY, due TEXT NOT NULL);
INSERT INTO lapsed (seq, lease) VALUES (1, '{"ask":1,"credits":2,"credits_since":1799999900,"deadline_ms":1800000001000,"granted":1,"holder":"isolate_1:key_a1","id":1,"windows":[["burst/60",1800000000000]]}');
INSERT INTO notices (seq, due) VALUES (1, '{"notice":{"key_id":"key_a1","next_refill":1800086400,"of":40,"percent":10,"remaining":4,"since":1799999900,"team":"acme"},"tries":2}');
