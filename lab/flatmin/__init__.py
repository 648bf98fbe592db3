"""Label-noise SGD as an implicit regulariser (Damian, Ma & Lee, NeurIPS 2021): the
regulariser and its constants (``regulariser``), batched Hessian probes by HVPs
(``hessian``), the quadratically parameterised sparse regression with its compiled
step kernel (``sparse``) and the network variant (``network``)."""
