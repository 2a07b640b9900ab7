// Prints well-formed keys that exist nowhere (random, with a valid checksum: the
// format of src/key.rs), one per line, for the benchmark's flood of unknown keys.
//
//   node bench/madeup-keys.mjs <count> [prefix=kw_]
import { randomInt } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const TABLE = Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (text) => {
  let crc = 0xffffffff;
  for (const b of Buffer.from(text)) crc = TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
};
const checksum = (text) => {
  let n = crc32(text);
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = BASE62[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
};
export const madeUp = (prefix) => {
  let random = "";
  for (let i = 0; i < 32; i++) random += BASE62[randomInt(62)];
  return prefix + random + checksum(prefix + random);
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const [count, prefix = "kw_"] = process.argv.slice(2);
  // The known answer of src/key.rs's tests.
  if (checksum(`kw_${"0".repeat(32)}`) !== "1vXtxm") throw new Error("checksum differs from src/key.rs");
  const keys = [];
  for (let i = 0; i < Number(count); i++) keys.push(madeUp(prefix));
  console.log(keys.join("\n"));
}
