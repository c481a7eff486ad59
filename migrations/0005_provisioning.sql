CREATE TABLE `domain_deletions` (
	`domain_uuid` text PRIMARY KEY NOT NULL,
	`domain_name` text NOT NULL,
	`keep_disk` integer NOT NULL,
	`volumes` text NOT NULL,
	`started_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `kept_volumes` (
	`pool` text NOT NULL,
	`volume` text NOT NULL,
	`domain_uuid` text NOT NULL,
	`domain_name` text NOT NULL,
	`kept_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	PRIMARY KEY(`pool`, `volume`)
);
