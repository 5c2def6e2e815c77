/** The simulated shoppers live in the library now (the demo drives them); benches and tests import them from here. */
export { startShopper, warmUp, type Shopper, type ShopperOptions, type ShopperStats } from "../../shared/demo/shopper.js";
