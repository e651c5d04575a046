#!/usr/bin/env node
// Prints a JWT for trying the API by hand: npm run token -- <userId> [--admin] [--guest] [--ttl 3600]
import { SignJWT } from "jose";
import { LOCAL_JWT_SECRET } from "./local-stack.mjs";

const args = process.argv.slice(2);
const userId = args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--ttl");
if (!userId) {
  console.error("usage: npm run token -- <userId> [--admin] [--guest] [--ttl seconds]");
  process.exit(2);
}
const ttlIndex = args.indexOf("--ttl");
const ttl = ttlIndex >= 0 ? Number(args[ttlIndex + 1]) : 24 * 3600;
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error("--ttl takes a whole number of seconds");
  process.exit(2);
}
const claims = {};
if (args.includes("--admin")) claims.role = "admin";
if (args.includes("--guest")) claims.guest = true;
const secret = new TextEncoder().encode(process.env.JWT_SECRET ?? LOCAL_JWT_SECRET);
const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: "HS256" })
  .setSubject(userId)
  .setIssuedAt()
  .setExpirationTime(`${ttl}s`)
  .sign(secret);
console.log(token);
