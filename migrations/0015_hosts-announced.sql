ALTER TABLE `hosts` ADD `announced_state` text;--> statement-breakpoint
ALTER TABLE `hosts` ADD `announced_draining` integer;