CREATE TABLE `event_log_identity` (
	`id` integer PRIMARY KEY NOT NULL,
	`secret` text NOT NULL,
	`legacy_through` integer NOT NULL
);
