export { DeadLetterStore, listDeadLetters, payloadForStore, type DeadLetter, type DeadLetterSource, type ListOptions } from './store.ts';
export { eraseDeadLetters } from './erase.ts';
