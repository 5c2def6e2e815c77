/** The simulated shoppers live in the library now (the demo drives them); benches and tests import them from here. */
export { startShopper, warmUp, type Shopper } from "../../shared/demo/shopper.js";
