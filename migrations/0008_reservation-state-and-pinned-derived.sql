ALTER TABLE `reservations` DROP COLUMN `state`;--> statement-breakpoint
ALTER TABLE `ip_allocations` DROP COLUMN `pinned`;