'use strict';
// Test helper: evaluate one boolean flag from a flagd file with the same
// evaluator the wiki uses, so tests can check targeting rules offline.
//
// Usage: node flagd-eval.js FLAGS_FILE FLAG_KEY CONTEXT_JSON [CONTEXT_JSON...]
// Prints one JSON line per context; exits 1 only if FLAGS_FILE can't be loaded.

const fs = require('fs');
const { FlagdCore } = require('@openfeature/flagd-core');

const [file, flagKey, ...contexts] = process.argv.slice(2);
if (!file || !flagKey || contexts.length === 0) {
  process.stderr.write('usage: node flagd-eval.js FLAGS_FILE FLAG_KEY CONTEXT_JSON [CONTEXT_JSON...]\n');
  process.exit(2);
}

// Keep stdout pure JSON lines: flagd-core's own messages go to stderr.
const logger = {
  debug() {},
  info() {},
  warn: (...a) => process.stderr.write(`flagd-eval: warning: ${a.join(' ')}\n`),
  error: (...a) => process.stderr.write(`flagd-eval: error: ${a.join(' ')}\n`),
};

const core = new FlagdCore(undefined, logger);
try {
  const text = fs.readFileSync(file, 'utf8');
  const doc = JSON.parse(text);
  // Same rule as server.js: setConfigurations() accepts [] / {} as "no flags".
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) ||
      doc.flags === null || typeof doc.flags !== 'object' || Array.isArray(doc.flags)) {
    throw new Error('not a flagd file (no "flags" object)');
  }
  core.setConfigurations(text);
} catch (e) {
  process.stderr.write(`flagd-eval: cannot load ${file}: ${e.message}\n`);
  process.exit(1);
}

for (const raw of contexts) {
  let context = raw; // echoed back as-is if it isn't valid JSON
  try {
    context = JSON.parse(raw);
    const r = core.resolveBooleanEvaluation(flagKey, true, context, logger);
    console.log(JSON.stringify({ context, value: r.value, variant: r.variant ?? null, reason: r.reason ?? null }));
  } catch (e) {
    console.log(JSON.stringify({ context, error: e.message }));
  }
}
