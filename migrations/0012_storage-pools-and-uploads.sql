CREATE TABLE `defined_pools` (
	`name` text PRIMARY KEY NOT NULL,
	`uuid` text,
	`type` text NOT NULL,
	`built_storage` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `upload_files` (
	`id` text PRIMARY KEY NOT NULL,
	`temp_path` text NOT NULL,
	`started_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
ALTER TABLE `images` ADD `sha256` text;