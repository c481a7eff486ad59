CREATE TABLE `ip_allocations` (
	`mac` text PRIMARY KEY NOT NULL,
	`network_uuid` text NOT NULL,
	`domain_uuid` text NOT NULL,
	`ipv4` text,
	`ipv6` text,
	`pinned` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ip_allocations_ipv4_uq` ON `ip_allocations` (`network_uuid`,`ipv4`);--> statement-breakpoint
CREATE UNIQUE INDEX `ip_allocations_ipv6_uq` ON `ip_allocations` (`network_uuid`,`ipv6`);--> statement-breakpoint
CREATE INDEX `ip_allocations_domain_idx` ON `ip_allocations` (`domain_uuid`);--> statement-breakpoint
CREATE TABLE `mac_leases` (
	`mac` text PRIMARY KEY NOT NULL,
	`domain_uuid` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `mac_leases_domain_idx` ON `mac_leases` (`domain_uuid`);--> statement-breakpoint
CREATE TABLE `network_settings` (
	`network_uuid` text PRIMARY KEY NOT NULL,
	`anti_spoofing` integer DEFAULT true NOT NULL
);
--> statement-breakpoint
CREATE TABLE `port_forward_quotas` (
	`user_id` text PRIMARY KEY NOT NULL,
	`max_port_forwards` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `port_forwards` (
	`id` text PRIMARY KEY NOT NULL,
	`domain_uuid` text NOT NULL,
	`user_id` text,
	`protocol` text NOT NULL,
	`host_port` integer NOT NULL,
	`guest_port` integer NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	CONSTRAINT "port_forwards_ports_ck" CHECK("port_forwards"."host_port" between 1 and 65535 and "port_forwards"."guest_port" between 1 and 65535)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `port_forwards_host_port_uq` ON `port_forwards` (`protocol`,`host_port`);--> statement-breakpoint
CREATE INDEX `port_forwards_domain_idx` ON `port_forwards` (`domain_uuid`);--> statement-breakpoint
CREATE INDEX `port_forwards_user_idx` ON `port_forwards` (`user_id`);