"""The ECR control-plane API front-end (AWS JSON 1.1 over ``POST /``): parses and validates
requests against botocore's ECR model, authenticates, dispatches to operation handlers, and
shapes their results and errors as AWS does. No business rules live here."""
from .endpoint import ApiCall, Authenticate, Handler, make_endpoint
from .errors import EcrApiError, model_error

__all__ = ["ApiCall", "Authenticate", "EcrApiError", "Handler", "make_endpoint", "model_error"]
