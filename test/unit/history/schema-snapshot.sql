-- The history store's schema as the migrations build it (test/unit/history/schema-snapshot.test.ts).
-- History tables are additive only: the test fails when a table or a column listed here is lost or changed.
-- After an additive migration: UPDATE_SCHEMA_SNAPSHOT=1 node --import tsx --test test/unit/history/schema-snapshot.test.ts
CREATE TABLE admin_states (
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  pe_id INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('draining', 'maintenance')),
  reason TEXT NOT NULL,
  actor TEXT NOT NULL,
  since INTEGER NOT NULL,
  PRIMARY KEY (pool_id, pe_id)
) WITHOUT ROWID;

CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
  label TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);

CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  run_id INTEGER REFERENCES registrar_runs (id),
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  pool_id INTEGER REFERENCES pools (id),
  element_id INTEGER REFERENCES pool_elements (id),
  reason TEXT NOT NULL DEFAULT '',
  before TEXT,
  after TEXT,
  result TEXT NOT NULL,
  details TEXT
);

CREATE TABLE deployment_events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  run_id INTEGER REFERENCES registrar_runs (id),
  -- 'enrp' or 'csp'
  source TEXT NOT NULL,
  -- enrp: peerUp, peerDown, takeoverStarted, takeoverCompleted, takeoverAborted, takenOverByPeer,
  -- resyncStarted, resyncCompleted, synced; csp: componentArrived, componentDeparted, componentWorkload
  event TEXT NOT NULL,
  -- the peer registrar or the component, as `0x` hex
  subject TEXT,
  details TEXT
);

CREATE TABLE element_events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  run_id INTEGER REFERENCES registrar_runs (id),
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  element_id INTEGER NOT NULL REFERENCES pool_elements (id),
  kind TEXT NOT NULL,
  state TEXT,
  cause TEXT NOT NULL,
  details TEXT
);

CREATE TABLE history_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE metric_samples (
  interval_ms INTEGER NOT NULL,
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  time INTEGER NOT NULL,
  up REAL NOT NULL DEFAULT 0,
  suspect REAL NOT NULL DEFAULT 0,
  failed REAL NOT NULL DEFAULT 0,
  draining REAL NOT NULL DEFAULT 0,
  maintenance REAL NOT NULL DEFAULT 0,
  resolutions INTEGER,
  notifications INTEGER NOT NULL DEFAULT 0,
  load_mean REAL,
  samples INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (interval_ms, pool_id, time)
) WITHOUT ROWID;

CREATE TABLE notifications (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  event_time INTEGER,
  run_id INTEGER REFERENCES registrar_runs (id),
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  element_id INTEGER REFERENCES pool_elements (id),
  pe_id INTEGER,
  pool_user_id INTEGER NOT NULL REFERENCES pool_users (id),
  connection_id INTEGER NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL,
  sequence INTEGER,
  details TEXT
);

CREATE TABLE pool_elements (
  id INTEGER PRIMARY KEY,
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  pe_id INTEGER NOT NULL,
  home_server_id INTEGER NOT NULL DEFAULT 0,
  -- user transport as text: "tcp 10.0.0.1:7001", "sctp 10.0.0.1,10.0.1.1:7001 (data+control)"
  addresses TEXT NOT NULL DEFAULT '',
  -- the ASAP transport the registrar reaches the element on ("tcp 10.0.0.1:40312"), '' when learned from a peer
  asap_address TEXT NOT NULL DEFAULT '',
  -- the element's policy parameter as JSON, without the load ({"type":"0x40000001","policyName":"Least
  -- Used"}): the load changes all the time; its history is in element_events details and metric_samples
  policy TEXT NOT NULL DEFAULT '{}',
  registration_life INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  UNIQUE (pool_id, pe_id)
);

CREATE TABLE pool_user_subscriptions (
  pool_user_id INTEGER NOT NULL REFERENCES pool_users (id),
  pool_id INTEGER NOT NULL REFERENCES pools (id),
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  notifications INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pool_user_id, pool_id)
) WITHOUT ROWID;

CREATE TABLE pool_users (
  id INTEGER PRIMARY KEY,
  run_id INTEGER REFERENCES registrar_runs (id),
  connection_id INTEGER NOT NULL,
  -- "10.0.0.9:51234" or "[2001:db8::9]:51234"
  address TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  closed_at INTEGER,
  close_reason TEXT
);

CREATE TABLE pools (
  id INTEGER PRIMARY KEY,
  handle BLOB NOT NULL UNIQUE,
  name TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
);

CREATE TABLE registrar_runs (
  id INTEGER PRIMARY KEY,
  started_at INTEGER NOT NULL,
  stopped_at INTEGER,
  server_id INTEGER NOT NULL,
  settings TEXT NOT NULL,
  app_version TEXT NOT NULL DEFAULT '',
  stop_reason TEXT
);

CREATE INDEX audit_element_time ON audit (element_id, time);

CREATE INDEX audit_pool_time ON audit (pool_id, time);

CREATE INDEX audit_time ON audit (time);

CREATE INDEX deployment_events_time ON deployment_events (time, id);

CREATE INDEX element_events_element_time ON element_events (element_id, time);

CREATE INDEX element_events_pool_time ON element_events (pool_id, time);

CREATE INDEX element_events_time ON element_events (time);

CREATE INDEX metric_samples_interval_time ON metric_samples (interval_ms, time);

CREATE INDEX notifications_element_time ON notifications (element_id, time);

CREATE INDEX notifications_pool_time ON notifications (pool_id, time);

CREATE INDEX notifications_time ON notifications (time);

CREATE INDEX pool_elements_pe_id ON pool_elements (pe_id);

CREATE INDEX pool_user_subscriptions_pool ON pool_user_subscriptions (pool_id);

CREATE INDEX pool_users_address ON pool_users (address);

CREATE UNIQUE INDEX pool_users_run_connection ON pool_users (run_id, connection_id);

CREATE INDEX pools_name ON pools (name);
