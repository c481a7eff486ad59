DROP TABLE `port_forward_quotas`;--> statement-breakpoint
DROP INDEX `port_forwards_user_idx`;--> statement-breakpoint
ALTER TABLE `port_forwards` DROP COLUMN `user_id`;--> statement-breakpoint
ALTER TABLE `quotas` ADD `max_port_forwards` integer DEFAULT 0 NOT NULL;