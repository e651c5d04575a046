import { SignJWT } from "jose";
const [sub, admin] = process.argv.slice(2);
console.log(await new SignJWT(admin ? { role: "admin" } : {}).setProtectedHeader({ alg: "HS256" }).setSubject(sub).setIssuedAt().setExpirationTime("10h").sign(new TextEncoder().encode("s3cret-s3cret-s3cret-s3cret-s3cret")));
