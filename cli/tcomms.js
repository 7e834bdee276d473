#!/usr/bin/env node
// The `tcomms` binary: runs cli/main.ts through tsx (the project ships TypeScript sources).
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
