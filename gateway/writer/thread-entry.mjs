// Entry of the writer's thread: TypeScript through tsx's loader, as the CLI runs (bin/).
import { register } from 'tsx/esm/api';

register();
await import('./thread.ts');
