#include "amortize/dist/transforms/compose_transform.hpp"

#include "amortize/dist/distribution.hpp"

#include <algorithm>

namespace amortize::dist {

ComposeTransform::ComposeTransform(std::vector<TransformPtr> parts) : parts_(std::move(parts)) {
  for (const auto& p : parts_) require(p != nullptr, "ComposeTransform: a part is null");
}

std::string ComposeTransform::name() const {
  std::string out = "compose(";
  for (size_t i = 0; i < parts_.size(); ++i) out += (i ? ", " : "") + parts_[i]->name();
  return out + ")";
}

Tensor ComposeTransform::forward(const Tensor& x) const {
  Tensor y = x;
  for (const auto& p : parts_) y = p->forward(y);
  return y;
}

Tensor ComposeTransform::inverse(const Tensor& y) const {
  Tensor x = y;
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) x = (*it)->inverse(x);
  return x;
}

Tensor ComposeTransform::log_abs_det_jacobian(const Tensor& x, const Tensor& y) const {
  if (parts_.empty()) return at::zeros_like(x);
  int64_t event_dim = domain().event_dim();
  Tensor total;
  Tensor in = x;
  for (size_t i = 0; i < parts_.size(); ++i) {
    const auto& part = parts_[i];
    Tensor out = i + 1 == parts_.size() ? y : part->forward(in);
    Tensor term = sum_rightmost(part->log_abs_det_jacobian(in, out), event_dim - part->domain_event_dim());
    total = total.defined() ? total + term : term;
    event_dim += part->codomain_event_dim() - part->domain_event_dim();
    in = out;
  }
  return total;
}

Constraint ComposeTransform::domain() const {
  if (parts_.empty()) return constraints::real();
  Constraint domain = parts_.front()->domain();
  int64_t event_dim = parts_.back()->codomain_event_dim();
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) {
    event_dim += (*it)->domain_event_dim() - (*it)->codomain_event_dim();
    event_dim = std::max(event_dim, (*it)->domain_event_dim());
  }
  return domain.with_extra_event_dims(std::max<int64_t>(0, event_dim - domain.event_dim()));
}

Constraint ComposeTransform::codomain() const {
  if (parts_.empty()) return constraints::real();
  Constraint codomain = parts_.back()->codomain();
  int64_t event_dim = parts_.front()->domain_event_dim();
  for (const auto& p : parts_) {
    event_dim += p->codomain_event_dim() - p->domain_event_dim();
    event_dim = std::max(event_dim, p->codomain_event_dim());
  }
  return codomain.with_extra_event_dims(std::max<int64_t>(0, event_dim - codomain.event_dim()));
}

Shape ComposeTransform::forward_shape(const Shape& shape) const {
  Shape s = shape;
  for (const auto& p : parts_) s = p->forward_shape(s);
  return s;
}

Shape ComposeTransform::inverse_shape(const Shape& shape) const {
  Shape s = shape;
  for (auto it = parts_.rbegin(); it != parts_.rend(); ++it) s = (*it)->inverse_shape(s);
  return s;
}

}  // namespace amortize::dist
