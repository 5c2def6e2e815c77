module.exports = eval("require")("../cli/index.js");
