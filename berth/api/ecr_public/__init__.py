"""ECR Public's API (botocore's ``ecr-public`` model: JSON 1.1, SigV4 service ``ecr-public``)
on the ECR endpoint, told apart by its X-Amz-Target. The calls address the caller's public
registry; most reuse the ECR front-end's handlers (``admit`` names their actions
``ecr-public:``), their answers shaped by ECR Public's model."""
