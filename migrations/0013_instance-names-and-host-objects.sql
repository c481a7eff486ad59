CREATE TABLE `host_objects` (
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	PRIMARY KEY(`kind`, `name`)
);
--> statement-breakpoint
CREATE TABLE `instance_names` (
	`id` integer PRIMARY KEY NOT NULL,
	`instance_id` text NOT NULL,
	`storage_pool` text NOT NULL,
	`nft_table` text NOT NULL,
	`nwfilter_prefix` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
