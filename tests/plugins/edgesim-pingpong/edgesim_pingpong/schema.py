"""`training.pingpong`: which two nodes, how many rounds, how many bytes."""
from pydantic import Field

from edgesim.scenario.strict import Strict
from edgesim.scenario.types import Size


class PingPongSpec(Strict):
    a: str = Field(description="the node that starts with the model")
    b: str = Field(description="the node it is passed to and back from")
    rounds: int = Field(ge=1, description="round trips")
    bytes: Size = Field(gt=0, description="the model's size on the wire")
