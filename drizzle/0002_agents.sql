CREATE TABLE "chat_turns" (
	"id" uuid PRIMARY KEY NOT NULL,
	"session_id" uuid NOT NULL,
	"agent_type" text NOT NULL,
	"message_id" uuid,
	"state" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"reply_seq" integer,
	"ttfb_ms" integer,
	"first_delta_ms" integer,
	"total_ms" integer,
	"error" text,
	"dead_letter" boolean DEFAULT false NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"updated_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "chat_sessions" ADD COLUMN "handler" text DEFAULT 'agent' NOT NULL;--> statement-breakpoint
ALTER TABLE "chat_sessions" ADD COLUMN "handler_user_id" text;--> statement-breakpoint
ALTER TABLE "chat_sessions" ADD COLUMN "handler_since" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "chat_turns_session_idx" ON "chat_turns" USING btree ("session_id","created_at");--> statement-breakpoint
CREATE INDEX "chat_turns_agent_idx" ON "chat_turns" USING btree ("agent_type","updated_at");--> statement-breakpoint
CREATE INDEX "chat_turns_dead_idx" ON "chat_turns" USING btree ("updated_at") WHERE "chat_turns"."dead_letter";--> statement-breakpoint
CREATE INDEX "chat_sessions_waiting_idx" ON "chat_sessions" USING btree ("handler_since") WHERE "chat_sessions"."handler" = 'human' and "chat_sessions"."status" in ('active', 'idle', 'resolved');