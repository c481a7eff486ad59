CREATE TABLE `usage_periods` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`domain_uuid` text NOT NULL,
	`domain_name` text NOT NULL,
	`owner_id` text,
	`running` integer NOT NULL,
	`vcpus` integer NOT NULL,
	`memory_mib` integer NOT NULL,
	`disk_bytes` integer NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `usage_periods_open_idx` ON `usage_periods` (`domain_uuid`) WHERE "usage_periods"."ended_at" IS NULL;--> statement-breakpoint
CREATE INDEX `usage_periods_owner_idx` ON `usage_periods` (`owner_id`,`started_at`);--> statement-breakpoint
CREATE INDEX `usage_periods_ended_idx` ON `usage_periods` (`ended_at`);