export {
  DeadLetterStore, listDeadLetters, readDeadLetters, payloadForStore, boundEntry, MAX_ERRORS_PER_ENTRY, MAX_REASON_CHARS,
  type DeadLetter, type DeadLetterSource, type DeadLetterStoreOptions, type ListOptions,
} from './store.ts';
export { eraseDeadLetters } from './erase.ts';
