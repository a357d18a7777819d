// The generated client against a live server (CI: .ci/ts-client): sign in through the
// `file` SMS provider, change the nickname, follow a second user, and find that user in
// the follow list.
//
//   IM_BASE_URL=http://127.0.0.1:18306 IM_SMS_FILE=./data/sms.jsonl npm run smoke
import { readFileSync } from "node:fs";
import { imClient, unwrap } from "../src/index.js";

const baseUrl = required("IM_BASE_URL");
const smsFile = required("IM_SMS_FILE");

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}`);
  return value;
}

/** A fresh mobile number, so runs against one server don't meet. */
function newPhone(): string {
  return `165${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;
}

/** The last code the file provider wrote for `phone` (one JSON object per line). */
function lastCode(phone: string): string {
  const codes = readFileSync(smsFile, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as { phone: string; code: string })
    .filter((sms) => sms.phone === phone)
    .map((sms) => sms.code);
  const code = codes.at(-1);
  if (!code) throw new Error(`no code for ${phone} in ${smsFile}`);
  return code;
}

async function signIn(phone: string) {
  const api = imClient(baseUrl);
  await unwrap(api.POST("/sms/send", { body: { nation_code: "86", phone } }));
  return unwrap(
    api.POST("/accessuser/signinbysms", {
      body: { nation_code: "86", phone, check_code: lastCode(phone), device: "web" },
    }),
  );
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(what);
}

const me = await signIn(newPhone());
const api = imClient(baseUrl, me.token);
console.log(`signed in: user ${me.user_id} (${me.nickname})`);

const nickname = `ts${Date.now().toString(36).slice(-8)}`;
const profile = await unwrap(api.POST("/accessuser/updateuserinfo", { body: { nickname } }));
check(profile.nickname === nickname, `nickname is ${profile.nickname}, not ${nickname}`);
console.log(`nickname: ${profile.nickname}`);

const other = await signIn(newPhone());
await unwrap(
  api.POST("/relation/operation", { body: { to_user_id: other.user_id, type: "follow" } }),
);
const page = await unwrap(
  api.POST("/relation/followlist", { body: { type: "follow", page: 1, size: 20 } }),
);
const ids = page.list.map((contact) => contact.user_id);
check(ids.includes(other.user_id), `follow list ${JSON.stringify(ids)} lacks ${other.user_id}`);
console.log(`follows: ${ids.join(", ")}`);
console.log("ts-client: ok");
