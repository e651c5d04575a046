// The app router: one sub-router per domain.
import { createCallerFactory, router } from "../trpc";
import { adminRouter } from "./admin";
import { agentsRouter } from "./agents";
import { messagesRouter } from "./messages";
import { sessionsRouter } from "./sessions";
import { turnsRouter } from "./turns";
import { usersRouter } from "./users";

export const appRouter = router({
  sessions: sessionsRouter,
  messages: messagesRouter,
  users: usersRouter,
  admin: adminRouter,
  agents: agentsRouter,
  turns: turnsRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
