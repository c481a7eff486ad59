CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`subject_uuid` text NOT NULL,
	`subject_name` text NOT NULL,
	`owner_id` text,
	`type` text NOT NULL,
	`detail` text NOT NULL,
	`state` text NOT NULL,
	`at` integer NOT NULL,
	`synthetic` integer NOT NULL,
	`snapshot` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_subject_idx` ON `events` (`subject_uuid`,`id`);--> statement-breakpoint
CREATE INDEX `events_owner_idx` ON `events` (`owner_id`,`id`);--> statement-breakpoint
CREATE INDEX `events_at_idx` ON `events` (`at`);--> statement-breakpoint
CREATE TABLE `known_objects` (
	`uuid` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`snapshot` text NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
