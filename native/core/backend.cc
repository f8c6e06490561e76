#include "backend.h"

#include <string>

namespace mm {

bool Backend::supports_node(const Graph& g, size_t i, std::string* why) const {
  const Node& n = g.nodes[i];
  std::vector<DType> types;
  for (int32_t s : n.src) types.push_back(g.tensors[s].type);
  types.push_back(g.tensors[n.dst].type);
  if (supports(n.op, types)) return true;
  if (why) *why = name() + " has no " + op_name(n.op) + " for these tensor types";
  return false;
}

std::unique_ptr<Segment> Backend::prepare(const Graph& g, std::vector<int32_t> nodes) {
  auto s = std::make_unique<Segment>();
  s->graph = &g;
  s->nodes = std::move(nodes);
  return s;
}

}  // namespace mm
