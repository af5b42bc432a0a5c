-- The two roles the services run with (docker-compose.yml runs this once, when the database
-- volume is first made; scripts/infra.sh and the helm chart's role job create the same ones).
-- The owner role migrates: it makes the schemas, tables and triggers, so it needs CREATE on the
-- database. The runtime role only logs in: each service grants it what it needs on its own
-- tables (the audit log: INSERT and SELECT), and it owns nothing, so it can neither drop a
-- table nor switch the audit log's append-only triggers off. Development passwords only.
CREATE ROLE schild_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'schild_owner';
CREATE ROLE schild_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'schild_app';
GRANT CREATE ON DATABASE schild TO schild_owner;
