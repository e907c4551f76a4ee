/**
 * @module core/deadline-queue
 * Timeouts of one fixed duration armed by the thousand (a request timeout per proxied
 * request): armed in time order, they expire in arming order, so a linked list in that
 * order and one timer for its oldest entry do. Arming and cancelling are a few field
 * writes, where a node timer per request costs a Timeout object and its list bookkeeping
 * both ways. The target is an object with `onDeadline()`, so arming makes no closure.
 */

/** What a deadline calls when it expires. */
export interface DeadlineTarget {
  onDeadline(): void;
}

/** One armed deadline: a link in its queue. */
export class Deadline {
  readonly at: number;
  readonly target: DeadlineTarget;
  queue: DeadlineQueue | undefined;
  prev: Deadline | undefined;
  next: Deadline | undefined;

  constructor(at: number, target: DeadlineTarget, queue: DeadlineQueue) {
    this.at = at;
    this.target = target;
    this.queue = queue;
  }

  /** Takes it out of its queue (nothing if it expired or was cancelled already). */
  cancel(): void {
    this.queue?.remove(this);
  }
}

/** The deadlines of one duration; times are performance.now() milliseconds. */
export class DeadlineQueue {
  readonly #ms: number;
  #first: Deadline | undefined;
  #last: Deadline | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Calls target.onDeadline() `ms` after `now`, unless cancelled. The timer does not keep the process alive. */
  arm(target: DeadlineTarget, now = performance.now()): Deadline {
    const deadline = new Deadline(now + this.#ms, target, this);
    const last = this.#last;
    if (last === undefined) this.#first = deadline;
    else {
      last.next = deadline;
      deadline.prev = last;
    }
    this.#last = deadline;
    if (this.#timer === undefined) this.#schedule(this.#ms);
    return deadline;
  }

  remove(deadline: Deadline): void {
    const { prev, next } = deadline;
    if (prev === undefined) this.#first = next;
    else prev.next = next;
    if (next === undefined) this.#last = prev;
    else next.prev = prev;
    deadline.queue = deadline.prev = deadline.next = undefined;
    // The timer stays: when it fires it finds what is due, if anything, and sleeps again.
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(this.#fire, ms);
    this.#timer.unref();
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    try {
      let first = this.#first;
      while (first !== undefined && first.at <= now) {
        this.remove(first);
        first.target.onDeadline();
        first = this.#first;
      }
    } finally {
      // The loop's clock may run a little behind: never early, so wait out the rest.
      const first = this.#first;
      if (first !== undefined && this.#timer === undefined) this.#schedule(Math.max(1, Math.ceil(first.at - performance.now())));
    }
  };
}

const queues = new Map<number, DeadlineQueue>();

/** The process's queue for deadlines of `ms`. */
export function deadlineQueue(ms: number): DeadlineQueue {
  let queue = queues.get(ms);
  if (queue === undefined) {
    queue = new DeadlineQueue(ms);
    queues.set(ms, queue);
  }
  return queue;
}
