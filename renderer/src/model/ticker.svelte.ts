/** A shared once-a-second clock for ages and uptimes, so every "12 s ago" in the page moves together. */
class Ticker {
  now = $state(Date.now());
  private timer: ReturnType<typeof setInterval> | undefined;

  start(): void {
    this.timer ??= setInterval(() => {
      this.now = Date.now();
    }, 1000);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export const ticker = new Ticker();
