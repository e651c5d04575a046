// The app router: one sub-router per domain.
import { createCallerFactory, router } from "../trpc";
import { adminRouter } from "./admin";
import { messagesRouter } from "./messages";
import { sessionsRouter } from "./sessions";
import { usersRouter } from "./users";

export const appRouter = router({
  sessions: sessionsRouter,
  messages: messagesRouter,
  users: usersRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
