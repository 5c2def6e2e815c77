export interface WeightedChoice<T> {
  value: T;
  weight: number;
}

/**
 * Smooth weighted round-robin (nginx's): every pick goes to the choice with the largest
 * running credit, so a 10 % canary gets exactly 1 request in 10, evenly spread, not by chance.
 */
export class SmoothWeightedSplit<T> {
  private readonly credit: number[];

  constructor(private readonly choices: WeightedChoice<T>[]) {
    this.credit = choices.map(() => 0);
  }

  pick(): T | undefined {
    let total = 0;
    let best = -1;
    this.choices.forEach((c, i) => {
      if (c.weight <= 0) return;
      this.credit[i] += c.weight;
      total += c.weight;
      if (best < 0 || this.credit[i] > this.credit[best]) best = i;
    });
    if (best < 0) return undefined;
    this.credit[best] -= total;
    return this.choices[best].value;
  }
}
