DROP INDEX `usage_periods_open_idx`;--> statement-breakpoint
ALTER TABLE `usage_periods` ADD `host_id` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `usage_periods_open_idx` ON `usage_periods` (`host_id`,`domain_uuid`) WHERE "usage_periods"."ended_at" IS NULL;--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_known_objects` (
	`host_id` integer DEFAULT 1 NOT NULL,
	`uuid` text NOT NULL,
	`kind` text NOT NULL,
	`snapshot` text NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	PRIMARY KEY(`host_id`, `uuid`)
);
--> statement-breakpoint
INSERT INTO `__new_known_objects`("host_id", "uuid", "kind", "snapshot", "updated_at") SELECT coalesce((SELECT min(`id`) FROM `hosts`), 1), "uuid", "kind", "snapshot", "updated_at" FROM `known_objects`;--> statement-breakpoint
DROP TABLE `known_objects`;--> statement-breakpoint
ALTER TABLE `__new_known_objects` RENAME TO `known_objects`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
ALTER TABLE `reservations` ADD `host_id` integer;--> statement-breakpoint
UPDATE `reservations` SET `host_id` = coalesce((SELECT min(`id`) FROM `hosts`), 1);--> statement-breakpoint
CREATE INDEX `reservations_host_idx` ON `reservations` (`host_id`);--> statement-breakpoint
ALTER TABLE `events` ADD `host_id` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
UPDATE `events` SET `host_id` = (SELECT min(`id`) FROM `hosts`) WHERE `host_id` <> coalesce((SELECT min(`id`) FROM `hosts`), 1);--> statement-breakpoint
UPDATE `usage_periods` SET `host_id` = (SELECT min(`id`) FROM `hosts`) WHERE `host_id` <> coalesce((SELECT min(`id`) FROM `hosts`), 1);
