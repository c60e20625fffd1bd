-- Runs once, when the postgres volume is empty (docker-entrypoint-initdb.d).
CREATE DATABASE orders;
CREATE DATABASE payments;
