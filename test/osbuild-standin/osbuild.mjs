#!/usr/bin/env node
// osbuild stand-in for Kiln's tests: same CLI as osbuild (the subset Kiln uses). Loads tsx
// from the repo (not the cwd) so it runs from any working directory.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
