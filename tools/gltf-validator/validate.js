#!/usr/bin/env node
// Validate one .glb/.gltf with the Khronos glTF-Validator and print its JSON report on stdout.
// Usage: node tools/gltf-validator/validate.js FILE [--max-issues N]
// Exit status: 0 when the report has no errors, 1 when it has errors, 2 on bad usage or unreadable input.
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const args = process.argv.slice(2);
if (args.length < 1) {
  console.error("usage: node validate.js FILE [--max-issues N]");
  process.exit(2);
}
const file = args[0];
const maxAt = args.indexOf("--max-issues");
const maxIssues = maxAt >= 0 ? parseInt(args[maxAt + 1], 10) : 100;

let bytes;
try {
  bytes = new Uint8Array(fs.readFileSync(file));
} catch (err) {
  console.error(`cannot read ${file}: ${err.message}`);
  process.exit(2);
}
validator
  .validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: maxIssues,
    // external resources (a .gltf's .bin or images) are read beside the file
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (err, data) =>
          err ? reject(err.toString()) : resolve(new Uint8Array(data)));
      }),
  })
  .then((report) => {
    console.log(JSON.stringify(report, null, 1));
    process.exit(report.issues.numErrors > 0 ? 1 : 0);
  })
  .catch((err) => {
    console.error(`validator could not read ${file}: ${err}`);
    process.exit(2);
  });
