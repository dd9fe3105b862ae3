#!/usr/bin/env node
// The CLI is written in TypeScript and run through tsx's loader, so there is no build step
// between a checkout and a working `npx usage-gateway`.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
