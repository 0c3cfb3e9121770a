// A recording stand-in for the Functions host's "@azure/functions-core" module (the host injects the
// real one into the Node worker). It records what the real @azure/functions library registers.
const registrations = [];
const hooks = [];
let programmingModel;

module.exports = {
  version: '3.10.1',
  setProgrammingModel(model) {
    programmingModel = { name: model.name, version: model.version };
  },
  registerFunction(metadata, callback) {
    registrations.push({ metadata, handlerType: typeof callback });
    return { dispose() {} };
  },
  registerHook(name) {
    hooks.push(name);
    return { dispose() {} };
  },
  log() {},
  getProgrammingModel: () => programmingModel,
  __recorded: () => ({ programmingModel, registrations, hooks }),
};
