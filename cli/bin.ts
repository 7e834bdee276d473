#!/usr/bin/env node
/*
 * The `tcomms` binary of the built package (`dist/cli/bin.js`, made by `npm run build`, which
 * `npm install` runs through `prepare`). In a source checkout, `node cli/tcomms.js` runs the
 * same command from the TypeScript sources through tsx.
 */
import './main.js';
