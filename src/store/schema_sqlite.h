/* SQLite schema, one entry per version; PRAGMA user_version records how many were applied.
 * Never edit an entry that has shipped: add the next one. Times are ms since the epoch. */
#ifndef PW_SCHEMA_SQLITE_H
#define PW_SCHEMA_SQLITE_H

static const char *const sqlite_migrations[] = {
    /* 1: accounts, directory, catalogue, sessions and offers, events */
    "CREATE TABLE users ("
    "  id TEXT PRIMARY KEY,"
    "  email TEXT NOT NULL UNIQUE,"
    "  password_hash TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  role TEXT NOT NULL CHECK (role IN ('customer','mechanic','admin')),"
    "  city TEXT NOT NULL DEFAULT '',"
    "  credit_balance_cents INTEGER NOT NULL DEFAULT 0 CHECK (credit_balance_cents >= 0),"
    "  free_session_used INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE auth_sessions ("
    "  token_hash TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf_token TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL);"
    "CREATE INDEX auth_sessions_expiry ON auth_sessions(expires_at);"
    "CREATE TABLE mechanics ("
    "  id TEXT PRIMARY KEY,"
    "  user_id TEXT NOT NULL UNIQUE REFERENCES users(id),"
    "  name TEXT NOT NULL,"
    "  profile_photo_url TEXT NOT NULL DEFAULT '',"
    "  rating_tenths INTEGER NOT NULL CHECK (rating_tenths BETWEEN 0 AND 50),"
    "  completed_sessions INTEGER NOT NULL DEFAULT 0,"
    "  years_of_experience INTEGER NOT NULL DEFAULT 0,"
    "  is_brand_specialist INTEGER NOT NULL DEFAULT 0,"
    "  brand_specializations TEXT NOT NULL DEFAULT '[]',"
    "  service_keywords TEXT NOT NULL DEFAULT '[]',"
    "  city TEXT NOT NULL,"
    "  country TEXT NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('pending','approved','suspended')),"
    "  can_accept_sessions INTEGER NOT NULL DEFAULT 0,"
    "  presence TEXT NOT NULL DEFAULT 'offline' CHECK (presence IN ('online','offline','busy')),"
    "  last_seen_at INTEGER,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE vehicles ("
    "  id TEXT PRIMARY KEY,"
    "  owner_id TEXT NOT NULL REFERENCES users(id),"
    "  year INTEGER NOT NULL,"
    "  make TEXT NOT NULL,"
    "  model TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX vehicles_owner ON vehicles(owner_id, created_at);"
    "CREATE TABLE plans ("
    "  slug TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  standard_price_cents INTEGER NOT NULL CHECK (standard_price_cents >= 0),"
    "  specialist_price_cents INTEGER NOT NULL CHECK (specialist_price_cents >= 0),"
    "  sort INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  customer_id TEXT NOT NULL REFERENCES users(id),"
    "  vehicle_id TEXT NOT NULL REFERENCES vehicles(id),"
    "  plan_slug TEXT NOT NULL REFERENCES plans(slug),"
    "  is_specialist INTEGER NOT NULL,"
    "  preferred_mechanic_id TEXT REFERENCES mechanics(id),"
    "  routing_type TEXT NOT NULL CHECK (routing_type IN ('broadcast','priority_broadcast')),"
    "  intake TEXT NOT NULL,"
    "  metadata TEXT NOT NULL,"
    "  waiver_accepted_at INTEGER,"
    "  payment_method TEXT NOT NULL,"
    "  payment_status TEXT NOT NULL,"
    "  price_cents INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  assigned_mechanic_id TEXT REFERENCES mechanics(id),"
    "  created_at INTEGER NOT NULL,"
    "  routing_started_at INTEGER,"
    "  priority_ends_at INTEGER,"
    "  expires_at INTEGER,"
    "  accepted_at INTEGER,"
    "  ended_at INTEGER);"
    "CREATE INDEX sessions_customer ON sessions(customer_id, created_at);"
    "CREATE TABLE offers ("
    "  id INTEGER PRIMARY KEY,"
    "  session_id TEXT NOT NULL REFERENCES sessions(id),"
    "  mechanic_id TEXT NOT NULL REFERENCES mechanics(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('priority','broadcast')),"
    "  offered_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  outcome TEXT CHECK (outcome IN ('accepted','declined','expired','withdrawn')),"
    "  outcome_at INTEGER,"
    "  UNIQUE (session_id, mechanic_id));"
    "CREATE INDEX offers_accepted ON offers(mechanic_id, outcome, outcome_at);"
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  type TEXT NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE TABLE settings ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);",

    /* 2: booking and routing: outcome, rating, card checkout, due-timer indexes */
    "ALTER TABLE sessions ADD COLUMN outcome TEXT"
    "  CHECK (outcome IN ('resolved','escalated','unresolved'));"
    "ALTER TABLE sessions ADD COLUMN outcome_notes TEXT;"
    "ALTER TABLE sessions ADD COLUMN rating_score INTEGER CHECK (rating_score BETWEEN 0 AND 10);"
    "ALTER TABLE sessions ADD COLUMN rating_comment TEXT;"
    "ALTER TABLE sessions ADD COLUMN rated_at INTEGER;"
    "ALTER TABLE sessions ADD COLUMN checkout_id TEXT;"
    "ALTER TABLE sessions ADD COLUMN checkout_url TEXT;"
    "ALTER TABLE sessions ADD COLUMN rollout_group TEXT NOT NULL DEFAULT 'selection';"
    "CREATE INDEX sessions_due_priority ON sessions(state, priority_ends_at);"
    "CREATE INDEX sessions_due_expiry ON sessions(state, expires_at);"
    "CREATE INDEX sessions_assigned ON sessions(assigned_mechanic_id, created_at);"
    /* a preferred mechanic whose priority offer ended takes part in the broadcast: one
     * offer of each kind per session and mechanic (SQLite rebuilds a table to change it) */
    "CREATE TABLE offers_v2 ("
    "  id INTEGER PRIMARY KEY,"
    "  session_id TEXT NOT NULL REFERENCES sessions(id),"
    "  mechanic_id TEXT NOT NULL REFERENCES mechanics(id),"
    "  kind TEXT NOT NULL CHECK (kind IN ('priority','broadcast')),"
    "  offered_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  outcome TEXT CHECK (outcome IN ('accepted','declined','expired','withdrawn')),"
    "  outcome_at INTEGER,"
    "  UNIQUE (session_id, mechanic_id, kind));"
    "INSERT INTO offers_v2 SELECT * FROM offers;"
    "DROP TABLE offers;"
    "ALTER TABLE offers_v2 RENAME TO offers;"
    "CREATE INDEX offers_accepted ON offers(mechanic_id, outcome, outcome_at);"
    "CREATE INDEX offers_session ON offers(session_id);"
    "CREATE INDEX offers_live_mechanic ON offers(mechanic_id) WHERE outcome IS NULL;"
    "CREATE TABLE stripe_events ("
    "  id TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  received_at INTEGER NOT NULL);",

    /* 3: admin metrics: when a session was first broadcast (the fallback rate needs it and
     * no other column tells a session cancelled in its priority window from one cancelled
     * after falling back), filled for older sessions from their routing events; sessions
     * by creation time for the metrics window */
    "ALTER TABLE sessions ADD COLUMN broadcast_at INTEGER;"
    "UPDATE sessions SET broadcast_at = (SELECT min(e.created_at) FROM events e"
    "  WHERE e.type = 'routing' AND e.channel = 'session:' || sessions.id"
    "  AND json_extract(e.payload, '$.step') = 'broadcast');"
    "CREATE INDEX sessions_created ON sessions(created_at);",

    /* 4: failed logins, shared by every node (auth/throttle.c); keys are SHA-256 hex */
    "CREATE TABLE login_failures ("
    "  key text NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX login_failures_key ON login_failures(key, at);"
    "CREATE INDEX login_failures_at ON login_failures(at);",

    /* 5: accounts (issue 11): vehicles are deleted softly (their past sessions still show
     * them); a session's routing steps are read back by channel; the vehicle-in-use check.
     * "One live session per customer" is not an index: older databases may hold two live
     * sessions of one customer, and the create transaction locks the customer's row
     * instead (docs/decisions.md) */
    "ALTER TABLE vehicles ADD COLUMN deleted_at INTEGER;"
    "CREATE INDEX events_channel ON events(channel, seq);"
    "CREATE INDEX sessions_vehicle ON sessions(vehicle_id, state);",
};

#endif
