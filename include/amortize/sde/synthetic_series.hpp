// Data sets of the paper's experiments that are made rather than read: a Lorenz-63 trajectory
// observed with Gaussian noise (experiment 2) and a nonlinear pendulum rendered as binary
// frames (experiment 3, "pendulum from pixels"). Both are deterministic given their options.
#pragma once
#include "amortize/sde/time_series.hpp"

namespace amortize::sde {

struct LorenzSeriesOptions {
  double sigma = 10.0, rho = 28.0, beta = 8.0 / 3.0;
  double dt = 0.005;       // observation spacing
  double duration = 10.0;  // observations at 0, dt, ..., duration
  double noise_sd = 1.0;   // Gaussian observation noise
  double burn_in = 10.0;   // time run from (1, 1, 1) before t = 0, to start on the attractor
  uint64_t seed = 7;       // the noise's
};

// x [N, 3]: the Lorenz ODE by RK4 (20 substeps per observation) plus noise.
TimeSeries lorenz_series(const LorenzSeriesOptions& options, const at::TensorOptions& tensor_options);

struct PendulumVideoOptions {
  double theta0 = 1.5707963267948966;   // initial angle from the downward vertical (pi / 2), at rest
  double gravity = 9.81, length = 1.0;  // theta'' = -(g / L) sin theta
  double frames_per_second = 15.0;
  double duration = 30.0;   // frames at 0, 1/fps, ... < duration
  int64_t frame_size = 32;  // frames are frame_size x frame_size
};

// The pendulum's angle at each frame time (RK4, 20 substeps per frame): [N].
Tensor pendulum_angles(const PendulumVideoOptions& options);
// x [N, frame_size^2] in {0, 1}: a disc (radius frame_size / 10) at the bob, the pivot in the
// upper middle of the frame, the rod's length in pixels 0.4 frame_size.
TimeSeries pendulum_video(const PendulumVideoOptions& options, const at::TensorOptions& tensor_options);

}  // namespace amortize::sde
